# Unpaired domains (CycleGAN layout: data_root/{trainA,trainB,testA,testB}/*.jpg),
# CycleGAN's jitter: resize to 286x286, random 256x256 crop, random flip; batch size 1;
# each A image is paired with a random B image. Experiment configs set data_root: the
# download command is python tools/download_dataset.py <folder name of data_root>.
_base_ = ['./image_folder_loader.py']
train_dataloader = dict(
    dataset=dict(type='UnpairedImageDataset', data_root='data/horse2zebra', split='train',
                 load_size=286, crop_size=256, preprocess='resize_and_crop', flip=True),
)
